"""np-plugin-tinynet: an nptrain plugin. Importing this package does not import torch."""
__version__ = "0.1.0"
