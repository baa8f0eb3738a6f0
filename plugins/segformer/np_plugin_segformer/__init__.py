"""np-plugin-segformer: SegFormer (MiT backbone, all-MLP decoder) for nptrain. No torch import here."""
__version__ = "0.1.0"
