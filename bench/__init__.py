"""Benchmarks (not tests): engine, dashboard, cleaning and prediction figures."""
