"""Analysis of finished runs: interpretation and the top-loss cleaner."""
