"""Datasets, tensor transforms and loaders (no torchvision: everything works on plain tensors)."""
