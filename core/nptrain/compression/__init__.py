"""Structured pruning (torch-pruning), pruned-model files, and reshaping a fresh model to pruned weights."""
