"""np-plugin-vit: Vision Transformer (ml-cvnets layout) for nptrain. Importing this package does not import torch."""
__version__ = "0.1.0"
