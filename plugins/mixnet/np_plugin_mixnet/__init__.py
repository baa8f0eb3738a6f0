"""np-plugin-mixnet: MixNet for nptrain. Importing this package does not import torch."""
__version__ = "0.1.0"
