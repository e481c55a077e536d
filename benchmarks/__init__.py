"""Accuracy and speed benchmarks for GLiClass models against baselines."""
